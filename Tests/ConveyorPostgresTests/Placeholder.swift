import Testing

// The Postgres client tests are in progress (see the closing note of stop 13).
