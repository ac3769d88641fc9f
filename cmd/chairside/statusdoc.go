package main

import (
	"github.com/chairside/chairside/monitor/wire"
)

// statusFormat is the status document's "v": bumped when a field changes
// meaning or goes; fields may be added within it.
const statusFormat = 1

// statusDoc is the one JSON document the daemon's status socket serves
// (docs/interfaces.md §1.3): what an engineer at the bedside asks first.
// Every number in it is one a sensor sent or the daemon counted; a value
// the sensor did not give is null, never a stand-in.
type statusDoc struct {
	V       int       `json:"v"`
	T       wire.Time `json:"t"` // when the document was made
	Chair   string    `json:"chair"`
	Version string    `json:"version"`
	PID     int       `json:"pid"`
	Boot    uint64    `json:"boot"`
	Stream  string    `json:"stream"`
	Started wire.Time `json:"started"`
	UptimeS float64   `json:"uptime_s"`
	// Engine is how fresh the engine's part (session, alarms, vitals,
	// sensors) is: the engine publishes it between steps, at least every
	// second; an old one means the engine loop is stuck.
	Engine           engineView   `json:"engine"`
	Session          sessionView  `json:"session"`
	Alarms           []wire.Alarm `json:"alarms"` // highest priority first, then oldest first
	AudioPausedUntil wire.Time    `json:"audio_paused_until"`
	Vitals           []vitalView  `json:"vitals"`
	NIBP             nibpView     `json:"nibp"`
	Sensors          []sensorView `json:"sensors"`
	Link             linkView     `json:"link"`
	Backlog          backlogView  `json:"backlog"`
	Store            *storeView   `json:"store"` // null: running without a store (store_fault is raised)
	Clock            clockView    `json:"clock"`
	CommandsBusy     uint64       `json:"commands_refused_busy"`
}

type engineView struct {
	Published wire.Time `json:"published"` // when the engine last published its view
	AgeS      float64   `json:"age_s"`     // seconds since then
}

type sessionView struct {
	ID           string    `json:"id"` // "" when idle
	Encounter    string    `json:"encounter"`
	Phase        string    `json:"phase"`
	Started      wire.Time `json:"started"`
	PhaseStarted wire.Time `json:"phase_started"`
}

// vitalView is the oximeter's latest reading of one parameter.
type vitalView struct {
	Param  string    `json:"param"`
	Unit   string    `json:"unit"`
	Value  wire.Num  `json:"value"` // null: the last reading carried no usable value
	T      wire.Time `json:"t"`     // null: none since the daemon started
	AgeS   *float64  `json:"age_s"`
	Flags  []string  `json:"flags"`
	Source string    `json:"source"`
}

type nibpView struct {
	Last        *wire.NIBP `json:"last"` // the last result since the daemon started, as published; null: none
	AgeS        *float64   `json:"age_s"`
	Next        wire.Time  `json:"next"` // null: none planned
	InFlight    bool       `json:"in_flight"`
	LastSuccess wire.Time  `json:"last_success"`
	Failures    int        `json:"failures"` // in a row
}

type sensorView struct {
	Sensor   int       `json:"sensor"` // 1-based, as the config's sensor[N]
	Driver   string    `json:"driver"`
	Port     string    `json:"port"`
	Roles    []string  `json:"roles"`     // oximeter, nibp
	LastData wire.Time `json:"last_data"` // the last validated data; null: none since the daemon started
	AgeS     *float64  `json:"age_s"`
	Frames   uint64    `json:"frames"`
	Garbled  uint64    `json:"garbled"`
	Valid    uint64    `json:"valid"`
}

type linkView struct {
	Broker    string    `json:"broker"`
	Connected bool      `json:"connected"` // the connection is open now
	Down      bool      `json:"down"`      // link_down's condition: unreachable, or the heartbeat is not coming back
	Reason    string    `json:"reason"`
	Since     wire.Time `json:"since"` // when the current state (down or up) began
	LastError string    `json:"last_error"`
}

// backlogView is what waits to reach the broker.
type backlogView struct {
	Records      int64 `json:"records"`       // store_records + memory: not yet known delivered
	StoreRecords int64 `json:"store_records"` // in the store, not yet acknowledged
	StoreBytes   int64 `json:"store_bytes"`
	StoreQueued  int   `json:"store_queued"` // waiting for the store's group commit
	Memory       int   `json:"memory"`       // in no store (the store is down), kept for the next connect
	Writing      int   `json:"writing"`      // waiting for the disk goroutine
	Publishing   int   `json:"publishing"`   // committed, waiting for the publisher
	Awaiting     int   `json:"awaiting"`     // acknowledged by the broker, awaiting the heartbeat's proof
}

type storeView struct {
	Dir      string `json:"dir"`
	FileSize int64  `json:"file_size"`
	Bytes    int64  `json:"bytes"`     // the outbox's records: what max_bytes bounds
	MaxBytes int64  `json:"max_bytes"` // over it the oldest vitals go
	Full     bool   `json:"full"`
	Gaps     uint64 `json:"gaps"`
	Dropped  uint64 `json:"dropped"`
	Refused  uint64 `json:"refused"`
	Corrupt  uint64 `json:"corrupt"`
	Commits  uint64 `json:"commits"`
}

type clockView struct {
	Synced bool `json:"synced"` // NTP-synchronised (adjtimex); false: records say clock_synced=false
}
