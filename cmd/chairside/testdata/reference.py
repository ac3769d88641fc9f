#!/usr/bin/env python3
"""The reference point of DESIGN.md's performance budget: a competent Python
reader of a Nonin data format 2 stream (pyserial + paho-mqtt) that waits for
whole packets and publishes SpO2 and pulse once a second, and nothing else.

BenchmarkHILDaemon runs it beside chairside on the same stream and broker, so
that chairside's CPU and memory can be compared with it on the same machine
at the same moment (CPU time on a virtual machine varies with the host).

    reference.py PORT HOST BROKER_PORT TOPIC_PREFIX
"""
import json
import sys
import time

import paho.mqtt.client as mqtt
import serial

FRAME = 5    # DF2: 0x01, STATUS, PLETH, FLOAT, CHK
PACKET = 25  # frames; STATUS bit 0 marks the first
SYNC = 0x01


def frames(buf):
    """Yields the valid frames at the start of buf, and how far it got."""
    i = 0
    while len(buf) - i >= FRAME:
        f = buf[i:i + FRAME]
        if f[0] == 0x01 and f[1] & 0x80 and sum(f[:4]) & 0xFF == f[4]:
            yield f
            i += FRAME
        else:
            i += 1  # hunt for the next frame
    del buf[:i]


def main():
    port, host, broker_port, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    client = mqtt.Client(client_id="python-reference")
    client.connect(host, broker_port)
    client.loop_start()
    ser = serial.Serial(port, 9600, timeout=1)
    buf, packet = bytearray(), []
    spo2 = hr = None
    next_pub = time.monotonic() + 1
    while True:
        buf += ser.read(PACKET * FRAME)  # a whole packet's worth
        for f in frames(buf):
            if f[1] & SYNC:
                packet = []
            packet.append(f[3])
            if len(packet) == PACKET:  # the values, once the packet is whole
                hr = (packet[0] & 0x03) << 7 | packet[1] & 0x7F
                spo2 = packet[2]
        now = time.monotonic()
        if spo2 is not None and now >= next_pub:
            next_pub += 1
            t = time.time()
            client.publish(prefix + "/spo2", json.dumps({"t": t, "value": spo2, "unit": "%"}), qos=1)
            client.publish(prefix + "/pulse", json.dumps({"t": t, "value": hr, "unit": "bpm"}), qos=1)


if __name__ == "__main__":
    main()
