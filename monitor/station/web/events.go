package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/chairside/chairside/monitor/station"
	"github.com/chairside/chairside/monitor/wire"
)

// streamBuffer is how many batches a page may fall behind before its stream
// is closed (the page reconnects and starts again from a full snapshot,
// rather than showing old values late).
const streamBuffer = 32

// stream is one open /api/events connection.
type stream struct {
	out     chan []byte
	done    chan struct{}
	closeMu sync.Once
}

func (st *stream) close() { st.closeMu.Do(func() { close(st.done) }) }

// send hands a batch to the stream without blocking; a stream that is too
// far behind is closed.
func (st *stream) send(b []byte) bool {
	select {
	case st.out <- b:
		return true
	default:
		st.close()
		return false
	}
}

func appendEvent(buf *bytes.Buffer, event string, data []byte) {
	buf.WriteString("event: ")
	buf.WriteString(event)
	buf.WriteString("\ndata: ")
	buf.Write(data) // JSON from encoding/json holds no raw newline
	buf.WriteString("\n\n")
}

func (s *Server) stationEvent(buf *bytes.Buffer) {
	b, _ := json.Marshal(struct {
		V int `json:"v"`
		StationInfo
	}{1, s.stationInfo()})
	appendEvent(buf, "station", b)
}

func (s *Server) chairEvents(buf *bytes.Buffer, chairs []station.Chair) {
	for _, c := range chairs {
		b, err := station.MarshalChair(c)
		if err != nil {
			s.log.Error("encoding a chair for the event stream failed", "chair", c.Chair, "err", err)
			continue
		}
		appendEvent(buf, "chair", b)
	}
}

// Broadcast pushes chair changes to every open stream until ctx ends:
// urgent ones (alarms, station conditions, session steps) at once, the rest
// (vitals) gathered for FlushEvery, so 500 chairs at 1 Hz make a few batches
// a second rather than a thousand events. Each change is encoded once for
// all pages. It also sends the heartbeat every HeartbeatEvery.
func (s *Server) Broadcast(ctx context.Context) {
	flush := time.NewTicker(s.cfg.FlushEvery)
	defer flush.Stop()
	beat := time.NewTicker(s.cfg.HeartbeatEvery)
	defer beat.Stop()
	lastInfo, _ := json.Marshal(s.stationInfo())
	for {
		s.lastLoop.Store(time.Now().UnixNano())
		var buf bytes.Buffer
		take := s.cfg.Model.TakeChanged
		select {
		case <-ctx.Done():
			s.Close()
			return
		case <-s.cfg.Model.Notify():
			take = func() ([]station.Chair, bool) { return s.cfg.Model.TakeUrgent(), true }
		case <-flush.C:
		case <-beat.C:
			b, _ := json.Marshal(struct {
				V int       `json:"v"`
				T wire.Time `json:"t"`
			}{1, wire.At(s.cfg.Now())})
			appendEvent(&buf, "heartbeat", b)
		}
		if info, _ := json.Marshal(s.stationInfo()); !bytes.Equal(info, lastInfo) {
			lastInfo = info
			s.stationEvent(&buf)
		}
		if chairs, _ := take(); len(chairs) > 0 {
			s.chairEvents(&buf, chairs)
		}
		if buf.Len() == 0 {
			continue
		}
		batch := buf.Bytes()
		s.streamMu.Lock()
		for st := range s.streams {
			if !st.send(batch) {
				delete(s.streams, st)
				s.log.Warn("event stream too far behind; closed (the page reconnects)")
			}
		}
		s.streamMu.Unlock()
	}
}

// events serves one page's stream: the station and every chair at once,
// then the changes and the heartbeat.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	st := &stream{out: make(chan []byte, streamBuffer), done: make(chan struct{})}
	s.streamMu.Lock()
	if len(s.streams) >= s.cfg.MaxStreams {
		s.streamMu.Unlock()
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("more than %d pages are open; close one", s.cfg.MaxStreams))
		return
	}
	s.streams[st] = struct{}{}
	s.streamMu.Unlock()
	defer func() {
		s.streamMu.Lock()
		delete(s.streams, st)
		s.streamMu.Unlock()
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var first bytes.Buffer
	first.WriteString("retry: 2000\n\n")
	s.stationEvent(&first)
	s.chairEvents(&first, s.cfg.Model.Chairs())
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second)) // a stuck page cannot hold the stream
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(first.Bytes()) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-st.done:
			return
		case b := <-st.out:
			if !write(b) {
				return
			}
		}
	}
}
