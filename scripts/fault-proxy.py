#!/usr/bin/env python3
"""A TCP proxy that injects network faults, for Cairn's transfer tests.

    fault-proxy.py --upstream HOST:PORT [--listen PORT] [--cut-after BYTES] [--down-for SECONDS]
                   [--stall-after BYTES] [--stall-for SECONDS] [--stats FILE]

It forwards every connection to the upstream and counts the bytes sent upstream (client to
server) and downstream. Faults are triggered by the running total of upstream bytes:

  --cut-after N    once N bytes have gone upstream, every open connection is reset (RST, mid
                   request), and for --down-for seconds (default 0) new connections are reset
                   as soon as they are accepted: a link that drops, or a store that is away.
  --stall-after N  once N bytes have gone upstream, nothing moves for --stall-for seconds
                   (connections stay open): a stalled link, for request timeouts.

Each fault fires once. The port it listens on (--listen 0 picks one) is printed on the first
line of stdout. --stats FILE is rewritten with "up down cuts refused" after every change
(refused: connections reset while the store was away).
"""
import argparse
import signal
import socket
import struct
import sys
import threading
import time


class Proxy:
    def __init__(self, args):
        self.args = args
        host, port = args.upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.lock = threading.Lock()
        self.up = 0
        self.down = 0
        self.cuts = 0
        self.refused = 0
        self.cut_done = args.cut_after is None
        self.stall_done = args.stall_after is None
        self.down_until = 0.0
        self.stall_until = 0.0
        self.conns = set()

    def write_stats(self):
        if self.args.stats:
            with open(self.args.stats + ".tmp", "w") as f:
                f.write(f"{self.up} {self.down} {self.cuts} {self.refused}\n")
            import os
            os.replace(self.args.stats + ".tmp", self.args.stats)

    @staticmethod
    def reset(sock):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def cut_all(self):
        for s in list(self.conns):
            self.reset(s)
        self.conns.clear()

    def counted(self, n, upstream):
        """Counts n bytes; returns False if the connection must die now."""
        stall = 0.0
        with self.lock:
            if upstream:
                self.up += n
            else:
                self.down += n
            if not self.cut_done and self.up >= self.args.cut_after:
                self.cut_done = True
                self.cuts += 1
                self.down_until = time.monotonic() + self.args.down_for
                self.cut_all()
                self.write_stats()
                return False
            if not self.stall_done and self.up >= self.args.stall_after:
                self.stall_done = True
                self.stall_until = time.monotonic() + self.args.stall_for
            stall = self.stall_until - time.monotonic()
            self.write_stats()
        if stall > 0:
            time.sleep(stall)
        return True

    def pump(self, src, dst, upstream):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not self.counted(len(data), upstream):
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self.lock:
                self.conns.discard(src)
                self.conns.discard(dst)
            self.reset(src)
            self.reset(dst)

    def serve(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.args.listen))
        listener.listen(64)
        print(listener.getsockname()[1], flush=True)
        self.write_stats()
        while True:
            client, _ = listener.accept()
            with self.lock:
                away = time.monotonic() < self.down_until
                if away:
                    self.refused += 1
                    self.write_stats()
            if away:
                self.reset(client)
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                self.reset(client)
                continue
            with self.lock:
                self.conns.update((client, server))
            threading.Thread(target=self.pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client, False), daemon=True).start()


def main():
    # A parent may have spawned us with signals blocked (Foundation's Process does): unblock
    # them, so SIGTERM and SIGINT stop the proxy.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", required=True)
    p.add_argument("--listen", type=int, default=0)
    p.add_argument("--cut-after", type=int)
    p.add_argument("--down-for", type=float, default=0.0)
    p.add_argument("--stall-after", type=int)
    p.add_argument("--stall-for", type=float, default=0.0)
    p.add_argument("--stats")
    args = p.parse_args()
    try:
        Proxy(args).serve()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
