"""Run logs: events, the incremental sd-scripts output parser, TensorBoard reading, outcome rules, tailing."""
