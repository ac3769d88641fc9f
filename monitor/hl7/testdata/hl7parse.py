"""Parse HL7 v2 messages with python-hl7 (Debian's python3-hl7), an
independent parser, for monitor/hl7's tests.

stdin: a JSON list of messages (strings). stdout: a JSON list, one per
message, of segments {"name": ..., "fields": [[component, ...], ...]} with
fields from field 1 (for MSH, field 1 is the field separator) and each
component unescaped by python-hl7. With the argument "ack CODE", it instead
answers each message with python-hl7's create_ack(CODE) as a string.
"""
import json
import sys

import hl7


def components(msg, field):
    if isinstance(field, str):
        return [msg.unescape(field)]
    if len(field) == 0:
        return [""]
    first = field[0]
    if isinstance(first, str):
        return [msg.unescape(str(field))]
    # a Field of Repetitions: take the first repetition's components
    return [msg.unescape(str(c)) for c in first]


def main():
    msgs = json.load(sys.stdin)
    out = []
    if len(sys.argv) > 2 and sys.argv[1] == "ack":
        for text in msgs:
            m = hl7.parse(text)
            out.append(str(m.create_ack(ack_code=sys.argv[2], message_id="ACK1")))
        json.dump(out, sys.stdout)
        return
    for text in msgs:
        m = hl7.parse(text)
        segs = []
        for s in m:
            name = str(s[0])
            fields = []
            for i in range(1, len(s)):
                if name == "MSH" and i <= 2:
                    fields.append([str(s[i])])
                else:
                    fields.append(components(m, s[i]))
            segs.append({"name": name, "fields": fields})
        out.append(segs)
    json.dump(out, sys.stdout)


main()
