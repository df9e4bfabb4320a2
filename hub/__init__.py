"""Domain core of the exchange hub: no Kafka, Faust or PostgreSQL imports here."""
