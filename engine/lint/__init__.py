"""`rulectl lint`: solver-proved facts about the rules (offline) and, against a target, about the data."""
