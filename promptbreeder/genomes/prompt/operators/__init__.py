"""Mutation operators: one `.lmql` query each (in promptbreeder/queries/), see base.py for the contract."""
