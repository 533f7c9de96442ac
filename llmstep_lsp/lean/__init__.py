"""The bridge to our own Lean server: process transport, document mirror and goal/diagnostic queries."""
