// Package hl7 forwards chairside records to a clinic's records system as
// HL7 v2.6 ORU^R01 messages shaped after IHE PCD-01, over MLLP.
//
// It holds no state and does no I/O beyond the MLLP client: the recorder
// reads records from its database, builds messages here (MinuteMessage for a
// minute's SpO2 and pulse medians, NIBPMessage for each cuff measurement),
// sends them with Client.Send and decides when to retry with Policy.
//
// No HL7 library is used (none is served by the module proxy): the builder
// writes only the segments and fields chairside needs, escapes every field,
// and is checked in tests by an independent parser (Debian's python3-hl7).
//
// A chair knows no patient's name: the session id stands where a patient
// identifier goes (PID-3), the chair is the equipment (OBX-18) and the bed
// (PV1-3).
package hl7
