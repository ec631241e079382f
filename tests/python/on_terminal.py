"""Runs a command with its stderr on a pseudo-terminal (160 columns by 40 rows, the standard
library's `pty`), its stdin and stdout elsewhere, and prints everything it drew on that terminal
once it ends; exits with the command's exit code.

usage: on_terminal.py <program> [args...]
"""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

leader, follower = pty.openpty()
fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
child = subprocess.Popen(
    sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower
)
os.close(follower)
drawn = bytearray()
while True:
    try:
        chunk = os.read(leader, 65536)
    except OSError:  # EIO: every end of the terminal's other side is closed
        break
    if not chunk:
        break
    drawn += chunk
code = child.wait()
sys.stdout.buffer.write(bytes(drawn))
sys.exit(code)
