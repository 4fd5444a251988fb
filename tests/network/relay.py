#!/usr/bin/python3
"""A relay between PKCS#11 proxy clients and their token service, for the
network tests and benchmarks: it forwards a unix or TCP socket to another,
adds latency, and on command stops forwarding (stall) or cuts every
connection, as a network between an application and its HSM does.

    relay.py LISTEN TARGET CONTROL [RTT_MS]

LISTEN and TARGET are unix:PATH or tcp:HOST:PORT. RTT_MS (0) is the round
trip it adds: half of it to each direction. CONTROL is a unix socket that
takes one command a line and answers "ok": "stall", "resume", "cut" (close
every connection now; new ones are accepted), "rtt MS". The relay runs
until it is killed."""
import asyncio
import os
import socket
import sys
import time


def parse(address):
    kind, _, rest = address.partition(":")
    if kind == "unix":
        return ("unix", rest)
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        return ("tcp", (host, int(port)))
    raise SystemExit(f"not unix:PATH or tcp:HOST:PORT: {address}")


def no_delay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Relay:
    def __init__(self, target, rtt_ms):
        self.target = target
        self.one_way = rtt_ms / 2000.0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.connections = set()  # (client writer, target writer)

    async def open_target(self):
        kind, where = self.target
        if kind == "unix":
            return await asyncio.open_unix_connection(where)
        return await asyncio.open_connection(*where)

    async def pump(self, reader, writer, peer):
        """Forwards one direction: each chunk leaves one_way after it came,
        in order, and only while the relay is not stalled."""
        queue = asyncio.Queue()

        async def send():
            while True:
                due, data = await queue.get()
                if data is None:
                    break
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(send())
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                queue.put_nowait((time.monotonic() + self.one_way, data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((0, None))
        try:
            await sender
        except (ConnectionError, OSError):
            peer.close()

    async def serve(self, client_reader, client_writer):
        try:
            target_reader, target_writer = await self.open_target()
        except OSError:
            client_writer.close()  # the service is down: the client sees the connection end
            return
        no_delay(client_writer)
        no_delay(target_writer)
        pair = (client_writer, target_writer)
        self.connections.add(pair)
        try:
            await asyncio.gather(self.pump(client_reader, target_writer, client_writer),
                                 self.pump(target_reader, client_writer, target_writer))
        finally:
            self.connections.discard(pair)

    def cut(self):
        for client, target in list(self.connections):
            for writer in (client, target):
                writer.transport.abort()
        self.connections.clear()

    async def control(self, reader, writer):
        while line := (await reader.readline()).decode().split():
            command = line[0]
            if command == "stall":
                self.flowing.clear()
            elif command == "resume":
                self.flowing.set()
            elif command == "cut":
                self.cut()
            elif command == "rtt" and len(line) == 2:
                self.one_way = float(line[1]) / 2000.0
            else:
                writer.write(b"unknown command\n")
                continue
            writer.write(b"ok\n")
            await writer.drain()
        writer.close()


async def main(listen, target, control, rtt_ms):
    relay = Relay(parse(target), rtt_ms)
    kind, where = parse(listen)
    if kind == "unix":
        server = await asyncio.start_unix_server(relay.serve, where)
        os.chmod(where, 0o666)  # clients may run as another user: a server's workers
    else:
        server = await asyncio.start_server(relay.serve, *where)
    controller = await asyncio.start_unix_server(relay.control, control)
    print("ready", flush=True)  # the tests wait for this line
    async with server, controller:
        await asyncio.gather(server.serve_forever(), controller.serve_forever())


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        raise SystemExit(__doc__)
    for path in (sys.argv[1], sys.argv[3]):
        if path.startswith("unix:") and os.path.exists(path[5:]):
            os.unlink(path[5:])
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3].removeprefix("unix:"),
                     float(sys.argv[4]) if len(sys.argv) == 5 else 0.0))
