"""A loopback SMTP server for the tests (aiosmtpd): each message it accepts is written to
<dir>/<n>.eml with the envelope as X-Envelope-From / X-Envelope-To headers first.
Usage: python3 scripts/smtp-sink.py PORT DIR"""
import asyncio
import os
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = os.path.join(self.directory, "%d-%d.eml" % (os.getpid(), self.count))
        head = "X-Envelope-From: %s\r\nX-Envelope-To: %s\r\n" % (envelope.mail_from, ",".join(envelope.rcpt_tos))
        with open(name + ".tmp", "wb") as f:
            f.write(head.encode() + envelope.content)
        os.rename(name + ".tmp", name)
        return "250 OK"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
