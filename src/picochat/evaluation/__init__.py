"""Rule-based eval: scoring rules, metrics, ladder, failure analysis."""
