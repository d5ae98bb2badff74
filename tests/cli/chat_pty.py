#!/usr/bin/env python3
"""`hearth chat` driven through a pseudo-terminal, as a user types into it, and through a pipe.

usage: chat_pty.py HEARTH_BINARY MODEL.gguf [HEARTH_SYNTH_BINARY]

On the terminal (libedit): two turns on the sample model (no chat template: the plain fallback
format), the --verbose counter showing that the second turn reuses the first turn's KV cache,
Ctrl-C at the prompt not ending the chat, /set, multi-line input (trailing backslash and \"\"\"
blocks), /save (file content checked), /system, /clear, /load, /bye (exit status 0). Through a
pipe: lines are read as turns and commands, for scripting. With hearth-synth: Ctrl-C while an
answer is being written (on a synthetic model slow enough to interrupt) stops the answer and
the chat goes on.
"""
import json
import os
import pty
import re
import select
import subprocess
import sys
import tempfile
import time

hearth, model = sys.argv[1], sys.argv[2]
synth = sys.argv[3] if len(sys.argv) > 3 else None
work = tempfile.mkdtemp(prefix="hearth-chat-")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    else:
        print("ok:", what, flush=True)


pid, fd = pty.fork()
if pid == 0:
    os.environ.update({"TERM": "dumb", "HOME": work, "XDG_STATE_HOME": work})
    os.execv(hearth, [hearth, "chat", model, "--verbose", "--seed", "7", "--temp", "0", "-n", "24", "-t", "2"])

out = b""


def read_until(pattern, timeout=30.0):
    """Reads the terminal until `pattern` (a regex over everything read since the mark) appears."""
    global out
    deadline = time.time() + timeout
    rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern, re.S)
    while True:
        m = rx.search(out)
        if m:
            rest = out[m.end():]
            seen = out[:m.end()]
            out = rest
            return seen, m
        left = deadline - time.time()
        if left <= 0:
            raise SystemExit(f"timed out waiting for {pattern!r}; terminal so far:\n{out.decode(errors='replace')}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                raise SystemExit(f"hearth chat ended while waiting for {pattern!r}:\n{out.decode(errors='replace')}")
            out += data


def send(text):
    os.write(fd, text.encode())


COUNTER = r"\[prompt: (\d+) tokens, (\d+) reused, (\d+) evaluated"

read_until(r">>> ")
send("Once upon a time\r")
_, m1 = read_until(COUNTER)
n1, r1, e1 = map(int, m1.groups())
check(r1 == 0 and e1 == n1, f"first turn evaluates its whole prompt ({n1} tokens, {r1} reused)")

read_until(r">>> ")
send("Tell me more\r")
_, m2 = read_until(COUNTER)
n2, r2, e2 = map(int, m2.groups())
check(n2 > n1, f"second prompt is longer ({n2} > {n1})")
check(r2 >= n1 - 1, f"second turn reuses the first turn's tokens ({r2} reused of {n2}; first prompt {n1})")
check(e2 == n2 - r2 and e2 < n2 - n1 + 24, f"second turn evaluates only the new text ({e2} evaluated)")

read_until(r">>> ")
time.sleep(0.3)  # libedit prints the prompt before it starts reading
send("\x03")  # Ctrl-C at the prompt
read_until(r"Use Ctrl-D or /bye")
read_until(r">>> ")
check(True, "Ctrl-C at the prompt keeps the chat")

send("/set temperature 0.7\r")
read_until(r"Set temperature to 0\.7\.")
send("/set top_k 5\r")
read_until(r"Set top_k to 5\.")
send("/set temperature hot\r")
read_until(r"error: temperature must be a number")

read_until(r">>> ")
send("first line \\\r")
read_until(r"\.\.\. ")
send("second line\r")
read_until(COUNTER)
read_until(r">>> ")
send('"""alpha\r')
read_until(r"\.\.\. ")
send('beta"""\r')
read_until(COUNTER)
read_until(r">>> ")

save1 = os.path.join(work, "conv.json")
send(f"/save {save1}\r")
read_until(r"Saved 8 messages")
with open(save1) as f:
    conv = json.load(f)
roles = [m["role"] for m in conv["messages"]]
check(roles == ["user", "assistant"] * 4, f"saved roles {roles}")
users = [m["content"] for m in conv["messages"] if m["role"] == "user"]
check(users == ["Once upon a time", "Tell me more", "first line \nsecond line", "alpha\nbeta"],
      f"saved user turns {users!r}")
check(all(isinstance(m["content"], str) and m["content"] for m in conv["messages"] if m["role"] == "assistant"),
      "saved assistant answers are non-empty text")
check(abs(conv["options"]["temperature"] - 0.7) < 1e-6 and conv["options"]["top_k"] == 5,
      f"saved options {conv['options']}")

send("/system You are a storyteller.\r")
read_until(r"System message set\.")
send("/clear\r")
read_until(r"Conversation cleared\.")
save2 = os.path.join(work, "empty.json")
send(f"/save {save2}\r")
read_until(r"Saved 1 messages")
with open(save2) as f:
    check(json.load(f)["messages"] == [{"role": "system", "content": "You are a storyteller."}],
          "/clear keeps only the system message")
send(f"/load {save1}\r")
read_until(r"Loaded 8 messages")
send("And then?\r")
_, m3 = read_until(COUNTER)
n3, r3, e3 = map(int, m3.groups())
check(n3 > n2, f"after /load the conversation continues ({n3} tokens)")

send("/bye\r")
_, status = os.waitpid(pid, 0)
check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"/bye exits 0 (status {status})")
history = os.path.join(work, "hearth", "chat_history")
# libedit's history file escapes spaces as \040.
check(os.path.exists(history) and "Tell me more" in open(history).read().replace("\\040", " "),
      "input history written")

# Through a pipe: lines are turns and commands.
save3 = os.path.join(work, "piped.json")
p = subprocess.run([hearth, "chat", model, "--seed", "1", "-n", "8", "-t", "2", "--no-history"],
                   input=f"Hello\n/save {save3}\n/bye\n", capture_output=True, text=True, timeout=60,
                   env={**os.environ, "HOME": work})
check(p.returncode == 0, f"piped chat exits 0 (rc {p.returncode}, stderr {p.stderr!r})")
check(">>>" not in p.stdout, "no prompt is printed when stdin is not a terminal")
with open(save3) as f:
    msgs = json.load(f)["messages"]
check([m["role"] for m in msgs] == ["user", "assistant"] and msgs[0]["content"] == "Hello", f"piped turn saved {msgs!r}")
p = subprocess.run([hearth, "chat", model, "-n", "4", "-t", "2"], input="Hi\n", capture_output=True, text=True,
                   timeout=60, env={**os.environ, "HOME": work})
check(p.returncode == 0, "end of input ends the chat with status 0")

# Ctrl-C during an answer: a synthetic 8-layer model with a 32000-token vocabulary writes a few
# hundred tokens/s on one thread, and with this seed does not end its answer within 3000 tokens
# (about 10 s), so the interrupt after 0.5 s lands mid-answer.
if synth:
    slow = os.path.join(work, "slow.gguf")
    subprocess.run([synth, "--arch", "llama", "--type", "Q8_0", "--n-layer", "8", "--n-ctx", "4096", "--n-vocab", "32000", "-q",
                    "--out", slow], check=True, timeout=120)
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update({"TERM": "dumb", "HOME": work, "XDG_STATE_HOME": work})
        os.execv(hearth, [hearth, "chat", slow, "--verbose", "-n", "3000", "--seed", "1", "-t", "1", "--temp", "1.5", "--top-k", "0",
                          "--top-p", "1", "--no-history"])
    out = b""
    read_until(r">>> ")
    send("Tell me a long story\r")
    time.sleep(0.5)
    send("\x03")
    seen, m = read_until(r"\[prompt: \d+ tokens, \d+ reused, \d+ evaluated in [0-9.]+ s \| answer: (\d+) tokens, [0-9.]+ tokens/s, (\w+)\]")
    check(b"(stopped)" in seen and m.group(2) == b"stopped" and 0 < int(m.group(1)) < 3000,
          f"Ctrl-C stops the answer ({m.group(1).decode()} tokens, {m.group(2).decode()})")
    read_until(r">>> ")
    send("/bye\r")
    _, status = os.waitpid(pid, 0)
    check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "the chat goes on after Ctrl-C, /bye exits 0")

if failures:
    print(f"{len(failures)} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("all checks passed")
