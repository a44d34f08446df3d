"""``stackseal bench``: what encryption at rest costs on *this* host, measured, never assumed.

Why measured here: the cost depends on the CPU (AES-NI, SHA extensions), the kernel (this
project's CI kernel has no accelerated XTS, so fscrypt is far slower than gocryptfs) and the
disks. :mod:`.volumes` times writes and reads on a plain directory and on each encrypted volume
backend this host can run; :mod:`.objects` times S3 PUT/GET with and without SSE on the plan's
store; :mod:`.crypto` times the backup encryption; :mod:`.neo4j` times queries on a plain vs
an encrypted store; :mod:`.report` prints the table and a chart and saves the JSON the runbook
and the dashboard quote.
"""
