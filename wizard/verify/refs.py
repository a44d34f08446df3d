"""Compliance references the checks cite (one declaration, used by every check and report).

Why these: encryption at rest and key management are what auditors ask about under HIPAA
(addressable encryption of ePHI), PCI DSS v4.0 (stored account data rendered unreadable, keys
protected), NIST SP 800-53 (protection of information at rest, key establishment and
management, cryptographic protection), FedRAMP (SC-28 is part of its baselines) and GDPR
(security of processing). A check lists only the controls it really gives evidence for.
"""

from __future__ import annotations

from wizard.verify.model import Reference

HIPAA = Reference("HIPAA", "164.312(a)(2)(iv)", "Encryption and decryption of ePHI")
PCI = Reference("PCI DSS v4.0", "3.5.1", "Stored account data rendered unreadable")
SC28 = Reference("NIST SP 800-53", "SC-28", "Protection of information at rest")
SC12 = Reference("NIST SP 800-53", "SC-12", "Cryptographic key establishment and management")
SC13 = Reference("NIST SP 800-53", "SC-13", "Cryptographic protection")
FEDRAMP = Reference("FedRAMP", "SC-28", "Protection of information at rest (moderate/high baselines)")
GDPR = Reference("GDPR", "Art. 32", "Security of processing (encryption of personal data)")

#: data at rest is encrypted
AT_REST = (HIPAA, PCI, SC28, FEDRAMP, GDPR)
#: keys are managed and protected
KEYS = (PCI, SC12, SC13, GDPR)
#: the cryptography in use is real and active
CRYPTO = (SC13, SC28, FEDRAMP)

ALL = (HIPAA, PCI, SC28, SC12, SC13, FEDRAMP, GDPR)
