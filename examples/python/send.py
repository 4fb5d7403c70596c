#!/usr/bin/env python3
"""Send a mail from Python through liblnccmd, with ctypes.

The calls are those of a CL or C program (MAILSMTP, MAILPREP, MAILTEXT,
MAILLATT, MAILSEND, MAILEND), behind a small wrapper: a `Session` whose
calls raise `LnccmdError` (status code + RESULT) when they fail, and whose
`with` block always ends with MAILEND.

    python3 examples/python/send.py --server smtp.example.com --port 587 \\
        --sender "Tech <tech@example.com>" --to "Bob <bob@example.com>" \\
        --subject "Monthly report" --text "Hello Bob," --text "here it is." \\
        --attach report.pdf

The library: --lib PATH, else $LNCCMD_LIB, else this tree's build
(target/release, then target/debug), else the one `make install` put in
the system's library path.

Exit status: 0 when the mail was sent. Otherwise RESULT is printed on stderr
and the status is the lnccmd code when it fits in an exit status (1xx and 2xx:
the call, files), 1 for the others (3xx and up): RESULT starts with the code.
"""

import argparse
import ctypes
import ctypes.util
import os
import sys
from pathlib import Path

# LNCCMD_RESULT_LEN in lnccmd.h: RESULT's size, terminating NUL included.
RESULT_LEN = 256


class LnccmdError(Exception):
    """A call that returned a status other than 0."""

    def __init__(self, command, code, result, meaning):
        super().__init__(f"{command} failed: {result} ({meaning})")
        self.command = command
        self.code = code  # LNCCMD_STATUS_... in lnccmd.h, listed in docs/codes.md
        self.result = result  # "<code> <COMMAND>: <message>"


class Lnccmd:
    """The library, its functions declared with their C types: ctypes would
    otherwise take every result for an int and pass Python ints as C ints."""

    def __init__(self, path=None):
        self.lib = ctypes.CDLL(path or find_library())
        # int32_t lnccmd(int32_t *handle, const char *cmd, const char *opt,
        #                const char *parm1, const char *parm2, char *result);
        self.lib.lnccmd.argtypes = [
            ctypes.POINTER(ctypes.c_int32),
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
        ]
        self.lib.lnccmd.restype = ctypes.c_int32
        # const char *lnccmd_strerror(int32_t code);  static text: never freed
        self.lib.lnccmd_strerror.argtypes = [ctypes.c_int32]
        self.lib.lnccmd_strerror.restype = ctypes.c_char_p
        # const char *lnccmd_version(void);
        self.lib.lnccmd_version.argtypes = []
        self.lib.lnccmd_version.restype = ctypes.c_char_p

    def version(self):
        return self.lib.lnccmd_version().decode()

    def strerror(self, code):
        return self.lib.lnccmd_strerror(code).decode()

    def session(self, properties):
        """MAILSMTP: a new session with the server and sender `properties`."""
        return Session(self, properties)


class Session:
    """One LNCCMD handle, from MAILSMTP to MAILEND."""

    def __init__(self, lnccmd, properties):
        self.lnccmd = lnccmd
        self.handle = ctypes.c_int32(0)  # 0: MAILSMTP opens a new session
        self.call("MAILSMTP", properties)

    def call(self, command, parm1="", parm2=""):
        """Runs one command; raises LnccmdError when it fails. Text goes in
        as UTF-8 (the library's default InputCharset)."""
        result = ctypes.create_string_buffer(RESULT_LEN)
        code = self.lnccmd.lib.lnccmd(
            ctypes.byref(self.handle),
            command.encode(),
            None,  # OPT: unused by the mail commands
            parm1.encode("utf-8"),
            parm2.encode("utf-8"),
            result,
        )
        if code != 0:
            text = result.value.decode("utf-8")
            raise LnccmdError(command, code, text, self.lnccmd.strerror(code))

    def close(self):
        """MAILEND: QUIT to the server, the handle freed (and set to 0)."""
        if self.handle.value:
            self.call("MAILEND")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            self.close()
        else:
            # The error being raised is the one to report, not MAILEND's.
            try:
                self.close()
            except LnccmdError:
                pass


def quoted(value):
    """A value for a property string: in double quotes, where "" is one "."""
    return '"' + value.replace('"', '""') + '"'


def find_library():
    """LNCCMD_LIB, else this tree's build, else the installed library."""
    if os.environ.get("LNCCMD_LIB"):
        return os.environ["LNCCMD_LIB"]
    tree = Path(__file__).resolve().parents[2]
    for profile in ("release", "debug"):
        built = tree / "target" / profile / "liblnccmd.so"
        if built.exists():
            return str(built)
    installed = ctypes.util.find_library("lnccmd")
    if installed is None:
        sys.exit("send.py: liblnccmd not found: give --lib PATH or set LNCCMD_LIB")
    return installed


def main(argv=None):
    parser = argparse.ArgumentParser(description="Send a mail through liblnccmd.")
    parser.add_argument("--lib", help="path of liblnccmd.so")
    parser.add_argument("--server", default="127.0.0.1", help="SMTP server (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=25, help="SMTP port (default 25)")
    parser.add_argument("--sender", required=True, help='"Name <address>" or an address')
    parser.add_argument("--to", required=True, help="recipients, separated by ;")
    parser.add_argument("--subject", default="", help="the subject")
    parser.add_argument("--text", action="append", default=[], help="a line of text (repeatable)")
    parser.add_argument("--attach", action="append", default=[], help="a file to attach (repeatable)")
    args = parser.parse_args(argv)

    lnccmd = Lnccmd(args.lib)
    properties = ";".join(
        [
            "Server=" + quoted(args.server),
            f"port={args.port}",
            "Sender=" + quoted(args.sender),
            "Timeout=30",
        ]
    )
    try:
        with lnccmd.session(properties) as mail:
            mail.call("MAILPREP", args.to, "subject=" + quoted(args.subject))
            for line in args.text:
                mail.call("MAILTEXT", line)
            for path in args.attach:
                # One file per call: MAILLATT's PARM1 separates paths with ;
                mail.call("MAILLATT", path)
            mail.call("MAILSEND")
    except LnccmdError as e:
        print(e, file=sys.stderr)
        return e.code if e.code < 256 else 1
    print(f"sent to {args.to} through {args.server}:{args.port} with lnccmd {lnccmd.version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
