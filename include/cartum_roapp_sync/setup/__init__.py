"""Connecting a store: the validations its setup must pass, and the command-line tool."""
