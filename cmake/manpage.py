#!/usr/bin/env python3
"""Writes the contrail-lb(1) man page from the two texts it must agree with.

    manpage.py CONTRAIL_LB_BINARY docs/configuration.md VERSION OUT

OPTIONS comes from `contrail-lb --help`, CONFIGURATION from docs/configuration.md, so
the man page cannot drift from either; SIGNALS, EXIT STATUS and FILES are written here.
The Markdown is the small subset docs/configuration.md uses: headings, paragraphs,
fenced code, pipe tables, `code`, **bold** and [links](target).
"""
import re
import subprocess
import sys

NAME = "contrail-lb \\- load balancer and BGP VIP announcer of the Contrail contrail-lb container"

DESCRIPTION = """\
contrail-lb is the entrypoint of the contrail-lb container of a Contrail (Tungsten Fabric)
cluster: a layer-7 HTTP/1.1 (and plain TCP) reverse proxy with active health checks that
balances clients across the contrail-api and contrail-analytics-api backends, and a minimal
BGP-4 speaker that announces the virtual IP to the fabric's routers only while this node
can serve it. It runs in the foreground and logs to stderr, one line per event."""

SIGNALS = [
    ("SIGHUP", "Reload FILE. The new file is validated first; if it is invalid the errors are "
     "logged and the running configuration stays. Otherwise it is applied without dropping "
     "a connection or an in-flight request."),
    ("SIGTERM, SIGINT", "Shut down gracefully: withdraw every VIP, keep serving for "
     "bgp.withdraw_wait while the routers move traffic, send BGP Cease, stop accepting, let "
     "in-flight requests finish for up to global.grace, then exit 0. A container engine's "
     "stop timeout must exceed their sum."),
]

EXIT_STATUS = [
    ("0", "clean shutdown; --check: the file is valid; --healthcheck: /healthz answered 200; "
     "--import-haproxy: everything was translated."),
    ("1", "configuration errors (printed as FILE:LINE:COLUMN: message), a command-line error, "
     "a failure to start, or an unhealthy --healthcheck; --import-haproxy: a file that cannot "
     "be parsed (FILE:LINE) or a translation that fails --check."),
    ("3", "--import-haproxy: the translation was written, but some directives were not "
     "translated (each is a \"# not translated\" comment in it and a line on stderr)."),
]

FILES = [
    ("/etc/contrail-lb/contrail-lb.yaml", "the configuration of the container image; when it "
     "is not mounted and CONTROLLER_NODES is set, the image runs as with --from-env."),
    ("share/doc/contrail-lb/examples/contrail-lb.yaml",
     "(under the install prefix) the example configuration, every choice commented."),
]


def escape(text):
    text = text.replace("\\", "\\e")
    return re.sub(r"^([.'])", r"\\&\1", text, flags=re.M)


def inline(text):
    text = escape(text)
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", text)
    return re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)


def cells(row):
    return [c.strip() for c in row.strip().strip("|").split("|")]


def table(rows):
    head, body = cells(rows[0]), [cells(r) for r in rows[2:]]
    body_format = ["l"] * (len(head) - 1) + ["lx"]
    out = [".TS", "allbox tab(\t);", " ".join("lb" for _ in head), " ".join(body_format) + "."]
    out.append("\t".join(inline(c) for c in head))
    for row in body:
        out.append("\t".join("T{\n" + inline(c) + "\nT}" for c in row))
    out.append(".TE")
    return out


def markdown(lines):
    """Converts the Markdown of docs/configuration.md (title dropped) to man macros."""
    out, para, rows, code = [], [], [], None

    def flush():
        nonlocal para, rows
        if para:
            out.extend([".PP", inline(" ".join(para))])
        if rows:
            out.extend([".PP"] + table(rows))
        para, rows = [], []

    for line in lines:
        if code is not None:
            if line.startswith("```"):
                out.extend([".PP", ".nf", ".RS 4"] + [escape(c) for c in code] + [".RE", ".fi"])
                code = None
            else:
                code.append(line)
            continue
        if line.startswith("```"):
            flush()
            code = []
        elif line.startswith("# "):
            flush()
        elif line.startswith("#"):
            flush()
            out.append(".SS " + inline(line.lstrip("#").strip()).replace("\\fB", "").replace("\\fR", ""))
        elif line.startswith("|"):
            if para:
                flush()
            rows.append(line)
        elif not line.strip():
            flush()
        else:
            para.append(line.strip())
    flush()
    return out


def help_sections(help_text):
    """SYNOPSIS, OPTIONS and the closing note of `contrail-lb --help`."""
    synopsis, options, notes = [], [], []
    for line in help_text.splitlines():
        if m := re.match(r"^(usage:|\s{5,})\s*(contrail-lb .*)$", line):
            synopsis.append(m.group(2))
        elif m := re.match(r"^  (-\S.*?|\s+--\S.*?)\s{2,}(.*)$", line):
            options.append([m.group(1).strip(), m.group(2)])
        elif m := re.match(r"^\s{6,}(\S.*)$", line):
            options[-1][1] += " " + m.group(1)
        elif line.strip():
            notes.append(line.strip())
    return synopsis, options, notes


def tagged(items):
    out = []
    for tag, text in items:
        out.extend([".TP", "\\fB" + escape(tag) + "\\fR", escape(text)])
    return out


def main():
    binary, config_md, version, out_path = sys.argv[1:5]
    help_text = subprocess.run([binary, "--help"], check=True, capture_output=True,
                               text=True).stdout
    synopsis, options, notes = help_sections(help_text)
    with open(config_md, encoding="utf-8") as f:
        config = f.read().splitlines()

    page = ["'\\\" t", ".\\\" Generated by cmake/manpage.py from `contrail-lb --help` and "
            "docs/configuration.md: edit those.",
            f'.TH CONTRAIL-LB 1 "" "contrail-lb {version}" "User Commands"',
            ".ad l", ".SH NAME", NAME, ".SH SYNOPSIS", ".nf"]
    page += [escape(s) for s in synopsis] + [".fi", ".SH DESCRIPTION", escape(DESCRIPTION)]
    page += [".SH OPTIONS"] + tagged(options)
    if notes:
        page += [".PP", escape(" ".join(notes))]
    page += [".SH SIGNALS"] + tagged(SIGNALS)
    page += [".SH EXIT STATUS"] + tagged(EXIT_STATUS)
    page += [".SH CONFIGURATION"] + markdown(config)
    page += [".SH FILES"] + tagged(FILES)
    page += [".SH SEE ALSO", "The documentation in docs/ of the source tree: operations.md, "
             "admin.md, bgp.md, health-checks.md; docker/README.md for the container image."]
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(page) + "\n")


if __name__ == "__main__":
    main()
