"""Operations: starting Kafka and PostgreSQL, topic administration, the hubctl command."""
