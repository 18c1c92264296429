"""Accounts, organizations (tenants), roles, memberships, and who may do what."""
