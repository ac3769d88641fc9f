// Package station is the nursing station's picture of every chair (CONTRACT
// §5): each chair's last state, session, vitals and current alarms, kept
// from the retained topics and the live records, plus the station's own
// technical conditions (chair_offline, records_missing, station_link_down).
//
// Model does no I/O and reads no clock: every call is given the time, so
// tests drive hours of heartbeats and holes in microseconds. The MQTT
// subscription, the store and the web server live elsewhere (Run, Store,
// monitor/station/web) and feed it.
package station
