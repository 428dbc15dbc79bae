"""The email channel: mailboxes, inbound messages, threading, loops and bounces."""
