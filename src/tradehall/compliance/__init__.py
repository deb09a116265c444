"""Compliance: the tamper-evident audit trail, the KYC document vault's cryptography,
surveillance and regulatory reports.

Pure logic over ports (no driver or framework imports); adapters store the records.
"""
