"""Grader types. Import from :mod:`rft` directly; this package holds their modules."""
