"""Key management backends (local files today; Vault/OpenBao, AWS, Azure, GCP slot in here).

Render uses only :class:`wizard.kms.base.SecretStore`; see that module for the contract.
"""
