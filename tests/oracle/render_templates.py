#!/usr/bin/python3
"""Renders chat templates with Python's jinja2, configured exactly as Hugging Face transformers'
apply_chat_template configures it, to produce the expected outputs for hearth's Jinja interpreter
(src/chat/jinja/). This is a test oracle only; hearth never runs Python.

    render_templates.py --templates DIR --conversations DIR --out DIR

For every DIR/*.jinja template, every conversations/*.json file and add_generation_prompt in
(false, true) it writes OUT/<template stem>/<conversation stem>.agp<0|1>.txt with the rendered
text, or .err with "<ExceptionType>: <message>" when jinja2 raises (at compile or render time).

Environment (transformers, utils/chat_template_utils.py):
  ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                extensions=[AssistantTracker ({% generation %}), loopcontrols])
  filters["tojson"]  = json.dumps(x, ensure_ascii=False, indent=, separators=, sort_keys=)
  globals["raise_exception"] raises TemplateError; globals["strftime_now"] formats "now",
  which here is fixed at 2024-07-26 00:00:00 (overridable with HEARTH_TEMPLATE_DATE=YYYY-MM-DD)
  so that the outputs are deterministic; hearth's tests pass the same date.
  render(messages=, tools= (None when the conversation has none), documents=None,
         add_generation_prompt=, bos_token=, eos_token=)

A conversation file is {"messages": [...], "tools": [...]?, "bos_token": "..."?, "eos_token": "..."?,
"extra": {more template variables, e.g. "enable_thinking": false}?}.
"""

import argparse
import datetime
import json
import os
import sys

try:
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    sys.stderr.write("render_templates.py: Python's jinja2 is missing; install python3-jinja2 "
                     "(scripts/setup-deps.sh does)\n")
    sys.exit(2)

DEFAULT_BOS = "<s>"
DEFAULT_EOS = "</s>"
FIXED_DATE = os.environ.get("HEARTH_TEMPLATE_DATE", "2024-07-26")


class GenerationBlock(jinja2.ext.Extension):
    """{% generation %}...{% endgeneration %}: transformers' AssistantTracker, which renders the
    body unchanged (the index tracking it does on the side does not affect the text)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.datetime.strptime(FIXED_DATE, "%Y-%m-%d").strftime(format)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                       extensions=[GenerationBlock, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(template, conv, add_generation_prompt):
    if isinstance(template, Exception):
        raise template  # the template did not compile: every render reports that error
    return template.render(messages=conv["messages"], tools=conv.get("tools"), documents=None,
                           add_generation_prompt=add_generation_prompt,
                           bos_token=conv.get("bos_token", DEFAULT_BOS),
                           eos_token=conv.get("eos_token", DEFAULT_EOS),
                           **conv.get("extra", {}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--templates", required=True)
    ap.add_argument("--conversations", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    templates = sorted(f for f in os.listdir(args.templates) if f.endswith(".jinja"))
    convs = sorted(f for f in os.listdir(args.conversations) if f.endswith(".json"))
    if not templates or not convs:
        sys.stderr.write("render_templates.py: no templates or no conversations found\n")
        return 2
    env = make_env()
    n_ok = n_err = 0
    for t in templates:
        with open(os.path.join(args.templates, t), encoding="utf-8") as f:
            source = f.read()
        try:
            template = env.from_string(source)
        except Exception as e:  # noqa: BLE001
            template = e
        tdir = os.path.join(args.out, t[: -len(".jinja")])
        os.makedirs(tdir, exist_ok=True)
        for c in convs:
            with open(os.path.join(args.conversations, c), encoding="utf-8") as f:
                conv = json.load(f)
            for agp in (False, True):
                base = os.path.join(tdir, "%s.agp%d" % (c[: -len(".json")], int(agp)))
                for stale in (base + ".txt", base + ".err"):
                    if os.path.exists(stale):
                        os.remove(stale)
                try:
                    text = render(template, conv, agp)
                except Exception as e:  # noqa: BLE001 — every failure is an expected "error" outcome
                    with open(base + ".err", "w", encoding="utf-8") as f:
                        f.write("%s: %s\n" % (type(e).__name__, e))
                    n_err += 1
                else:
                    with open(base + ".txt", "w", encoding="utf-8", newline="") as f:
                        f.write(text)
                    n_ok += 1
    print("render_templates.py: %d rendered, %d raised" % (n_ok, n_err))
    return 0


if __name__ == "__main__":
    sys.exit(main())
