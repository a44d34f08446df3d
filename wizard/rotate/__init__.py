"""Key rotation that runs: KMS key versions (transit rewrap) and volume keys, each journaled.

Why a package of its own: a rotation is a long operation that must survive a kill at any instant
and be resumed by running the same command again. Each kind keeps its own journal
(``<out>/.stackseal/rotate-<kind>.json``, never apply's) and only ever moves forward from what it
can observe (which key version a blob carries, which key opens a volume).
"""
