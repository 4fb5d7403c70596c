"""Delivers a message into an mbox file as an mbox delivery agent does
(Python's mailbox.mbox: mboxo, every body line starting with "From "
written as ">From ") and reads it back, as NeoMutt reads an mbox.

    mbox_roundtrip.py MESSAGE MBOX OUT"""
import mailbox
import sys

box = mailbox.mbox(sys.argv[2])
box.add(open(sys.argv[1], "rb").read())
box.flush()
box = mailbox.mbox(sys.argv[2])
open(sys.argv[3], "wb").write(box[0].as_bytes())
