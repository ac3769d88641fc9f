package max30102_test

import (
	"fmt"

	"github.com/chairside/chairside/drivers/max30102"
)

// The model stands in for the bus: the driver configures it, the test plays
// the light, the driver drains the FIFO.
func ExampleNew() {
	bus := max30102.NewModel() // on a Pi: i2creg.Open("") after host.Init()
	dev, err := max30102.New(bus, &max30102.DefaultOpts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer dev.Halt()
	for i := range 3 {
		bus.Push(uint32(90000+i), uint32(120000+i))
	}
	buf := make([]max30102.Sample, max30102.FIFODepth)
	b, err := dev.Read(buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range buf[:b.N] {
		fmt.Println(s.Red, s.IR, "finger off:", dev.FingerOff(s))
	}
	fmt.Println("lost", b.Lost, "at", bus.OutputRate(), "per second")
	// Output:
	// 90000 120000 finger off: false
	// 90001 120001 finger off: false
	// 90002 120002 finger off: false
	// lost 0 at 100 per second
}
