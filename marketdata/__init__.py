"""Market data the desk looks at and builds on: bars, history, the datafeed API, live topics, watchlists."""
