package service

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
	"github.com/chairside/chairside/monitor/station/config"
)

// 10 000 retained topics waiting at the broker (2000 chairs: state,
// session, alarms, a malformed payload and a topic the station does not
// know) are taken in at start: every chair shows, the malformed ones are
// refused, and the station answers at once.
func TestTenThousandRetainedTopicsAtStart(t *testing.T) {
	m := brokertest.StartMosquitto(t)
	broker := m.PlainURL()
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("seed-%d", p)))
			if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Error(tok.Error())
				return
			}
			defer c.Disconnect(100)
			ts := stamp(time.Now())
			var last paho.Token
			for i := p; i < 2000; i += 4 {
				root := fmt.Sprintf("chairside/chair-%d/", i)
				c.Publish(root+"state", 1, true, fmt.Sprintf(`{"v":1,"online":true,"boot":1,"stream":"s","version":"v","t":"%s","clock_synced":true,"session":"","phase":"idle"}`, ts))
				c.Publish(root+"session", 1, true, fmt.Sprintf(`{"v":1,"stream":"s","seq":1,"t":"%s","id":"s-1","phase":"infusion","phase_started":"%s"}`, ts, ts))
				c.Publish(root+"alarms", 1, true, fmt.Sprintf(`{"v":1,"t":"%s","audio_paused_until":null,"alarms":[]}`, ts))
				c.Publish(root+"vitals/spo2", 1, true, `{"v":1,"value":"ninety"}`)
				last = c.Publish(root+"future/topic", 1, true, `{"v":1}`)
			}
			last.WaitTimeout(30 * time.Second)
		}()
	}
	wg.Wait()
	st := startStation(t, broker, t.TempDir(), &clock{})
	eventually(t, "2000 chairs shown", func() string {
		code, body := st.get("/api/chairs")
		var all struct {
			Chairs []struct {
				Phase string `json:"phase"`
			} `json:"chairs"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &all) != nil {
			return fmt.Sprintf("%d", code)
		}
		infusion := 0
		for _, c := range all.Chairs {
			if c.Phase == "infusion" {
				infusion++
			}
		}
		if len(all.Chairs) != 2000 || infusion != 2000 {
			return fmt.Sprintf("%d chairs, %d in infusion", len(all.Chairs), infusion)
		}
		return ""
	})
	start := time.Now()
	if code, _ := st.get("/healthz"); code != 200 || time.Since(start) > time.Second {
		t.Fatalf("healthz %d after %v", code, time.Since(start))
	}
}

// Under TLS the station serves HTTPS and its session cookie is Secure.
func TestTLS(t *testing.T) {
	m := brokertest.StartMosquitto(t)
	pki := brokertest.NewPKI(t)
	st := startStation(t, m.PlainURL(), t.TempDir(), &clock{}, func(c *config.Config) {
		c.TLSCertFile, c.TLSKeyFile = pki.ServerCert, pki.ServerKey
	})
	ca, err := os.ReadFile(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	st.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	res, err := st.client.Post(st.url+"/api/signin", "application/json", strings.NewReader(`{"user":"ann","password":"correct horse"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || len(res.Cookies()) == 0 || !res.Cookies()[0].Secure {
		t.Fatalf("sign-in over TLS: %d, cookies %v", res.StatusCode, res.Cookies())
	}
}
