"""Commands that are features: explain, rule tests, init (scaffold, source import), load (sample
data, CSV checks), export, history, segment sizes, compile output. Each is called by workflow."""
