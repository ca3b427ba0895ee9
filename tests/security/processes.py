"""Helpers of the security tests: free ports, the sockets a process tree listens on, and
stopping a process tree by its ids."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess

import psutil

LOOPBACK = "127.0.0.1"


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (those still alive)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def listening_sockets(pid: int) -> set[tuple[str, str, int]]:
    """``(protocol, ip, port)`` of every socket the process tree of ``pid`` accepts on:
    TCP sockets in LISTEN and bound, unconnected UDP sockets."""
    found = set()
    for proc in process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            for conn in proc.net_connections(kind="inet"):
                if conn.type == socket.SOCK_STREAM and conn.status == psutil.CONN_LISTEN:
                    found.add(("tcp", conn.laddr.ip, conn.laddr.port))
                elif conn.type == socket.SOCK_DGRAM and conn.laddr and not conn.raddr:
                    found.add(("udp", conn.laddr.ip, conn.laddr.port))
    return found


def stop_tree(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM ``proc`` (a graceful stop), then SIGKILL it and every descendant still alive.

    Descendants are collected first: the simulator's mosquitto runs in a session of its
    own and would outlive a killed parent.
    """
    if proc.poll() is not None:
        return
    descendants = []
    with contextlib.suppress(psutil.NoSuchProcess):
        descendants = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout_s)
    _, alive = psutil.wait_procs(descendants, timeout=timeout_s)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
