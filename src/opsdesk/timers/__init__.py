"""Due rows: work that must happen at an exact instant (SLA warnings and breaches).

A timer row is taken by one worker under a row lock, handled in the same transaction and
marked done, so each timer fires once however many workers run.
"""
