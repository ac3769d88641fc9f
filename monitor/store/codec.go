package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"unicode/utf8"
)

// Stored values carry their own CRC because bbolt checksums only its meta
// pages: a bit flipped in a data page (an SD card that loses or garbles a
// write) would otherwise reach the broker as a plausible-looking reading.
//
// Outbox value layout (the key is the seq, 8 bytes big-endian, so a cursor
// walks records in seq order):
//
//	[0]     format version (1)
//	[1:5]   CRC-32C, big-endian, over the key and value[5:]
//	[5]     class (what the bound may do with the record, see class)
//	[6:8]   topic length, big-endian
//	[8:8+n] topic
//	[8+n:]  payload: the JSON published, with v, stream, seq, boot, clock_synced
//
// Audit entries and the snapshot use a frame of the same shape without class
// and topic: version, CRC-32C over the key and the data, data.
const (
	formatVersion = 1
	recordHeader  = 8 // version, CRC, class, topic length
	frameHeader   = 5 // version, CRC
	maxTopicLen   = 1024
	// MaxPayload bounds one record so a runaway caller cannot hold the whole
	// store in one value; record-stream payloads are a few hundred bytes.
	MaxPayload = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// seqKey is the outbox key of seq: big-endian, so keys sort by seq.
func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

func checksum(key, data []byte) uint32 {
	c := crc32.Update(0, castagnoli, key)
	return crc32.Update(c, castagnoli, data)
}

// encodeRecord builds the stored value of a record. The caller has checked the
// topic and payload (Commit does); the decoder checks them again on the way out.
func encodeRecord(seq uint64, cls class, topic string, payload []byte) []byte {
	v := make([]byte, recordHeader+len(topic)+len(payload))
	v[0] = formatVersion
	v[5] = byte(cls)
	binary.BigEndian.PutUint16(v[6:8], uint16(len(topic)))
	copy(v[recordHeader:], topic)
	copy(v[recordHeader+len(topic):], payload)
	binary.BigEndian.PutUint32(v[1:5], checksum(seqKey(seq), v[5:]))
	return v
}

// errBadRecord is wrapped by every decoding failure of a stored value.
var errBadRecord = errors.New("bad stored record")

// decodeRecord checks and unpacks one outbox entry. It never panics and never
// trusts a length it has not checked: any failure is an error wrapping
// errBadRecord. The returned payload aliases val (copy it out of a bbolt
// transaction).
func decodeRecord(key, val []byte) (Record, class, error) {
	r, cls, err := decodeHeader(key, val)
	if err != nil {
		return Record{}, 0, err
	}
	if err := checkPayload(r.Payload, r.Seq); err != nil {
		return Record{}, 0, fmt.Errorf("%w: seq %d: %v", errBadRecord, r.Seq, err)
	}
	return r, cls, nil
}

// decodeHeader checks everything but the payload's JSON: enough to trust the
// class, which is all trimming a full store needs, without parsing a hundred
// thousand payloads.
func decodeHeader(key, val []byte) (Record, class, error) {
	if len(key) != 8 {
		return Record{}, 0, fmt.Errorf("%w: key is %d bytes, want 8", errBadRecord, len(key))
	}
	seq := binary.BigEndian.Uint64(key)
	if len(val) < recordHeader {
		return Record{}, 0, fmt.Errorf("%w: seq %d: value is %d bytes, shorter than its header", errBadRecord, seq, len(val))
	}
	if val[0] != formatVersion {
		return Record{}, 0, fmt.Errorf("%w: seq %d: format version %d, want %d", errBadRecord, seq, val[0], formatVersion)
	}
	if got, want := checksum(key, val[5:]), binary.BigEndian.Uint32(val[1:5]); got != want {
		return Record{}, 0, fmt.Errorf("%w: seq %d: CRC %08x, stored %08x", errBadRecord, seq, got, want)
	}
	n := int(binary.BigEndian.Uint16(val[6:8]))
	if n == 0 || n > maxTopicLen || recordHeader+n > len(val) {
		return Record{}, 0, fmt.Errorf("%w: seq %d: topic length %d does not fit", errBadRecord, seq, n)
	}
	topic := string(val[recordHeader : recordHeader+n])
	if err := checkTopic(topic); err != nil {
		return Record{}, 0, fmt.Errorf("%w: seq %d: %v", errBadRecord, seq, err)
	}
	cls := class(val[5])
	if cls != classify(topic) {
		return Record{}, 0, fmt.Errorf("%w: seq %d: class %d does not match topic %q", errBadRecord, seq, cls, topic)
	}
	return Record{Seq: seq, Topic: topic, Payload: val[recordHeader+n:]}, cls, nil
}

// checkPayload accepts a JSON object whose "seq" is the record's own: a value
// moved under another key, or stamped wrongly, is as bad as a garbled one.
func checkPayload(payload []byte, seq uint64) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("payload is %d bytes, more than %d", len(payload), MaxPayload)
	}
	var head struct {
		Seq *uint64 `json:"seq"`
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		return fmt.Errorf("payload is not a JSON object: %v", err)
	}
	if head.Seq == nil || *head.Seq != seq {
		return fmt.Errorf("payload seq does not match the key")
	}
	return nil
}

// checkTopic accepts an MQTT topic name fit to publish: UTF-8, no wildcards,
// no NUL, not empty.
func checkTopic(topic string) error {
	if topic == "" || len(topic) > maxTopicLen {
		return fmt.Errorf("topic length %d outside 1..%d", len(topic), maxTopicLen)
	}
	if !utf8.ValidString(topic) {
		return fmt.Errorf("topic %q is not UTF-8", topic)
	}
	for _, r := range topic {
		if r == '+' || r == '#' || r == 0 {
			return fmt.Errorf("topic %q has a wildcard or NUL", topic)
		}
	}
	return nil
}

// frame wraps data (an audit entry, the snapshot) with a version and a CRC over
// key and data.
func frame(key, data []byte) []byte {
	v := make([]byte, frameHeader+len(data))
	v[0] = formatVersion
	copy(v[frameHeader:], data)
	binary.BigEndian.PutUint32(v[1:5], checksum(key, data))
	return v
}

// unframe checks a frame and returns its data (aliasing v).
func unframe(key, v []byte) ([]byte, error) {
	if len(v) < frameHeader {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the frame header", errBadRecord, len(v))
	}
	if v[0] != formatVersion {
		return nil, fmt.Errorf("%w: format version %d, want %d", errBadRecord, v[0], formatVersion)
	}
	data := v[frameHeader:]
	if got, want := checksum(key, data), binary.BigEndian.Uint32(v[1:5]); got != want {
		return nil, fmt.Errorf("%w: CRC %08x, stored %08x", errBadRecord, got, want)
	}
	return data, nil
}
