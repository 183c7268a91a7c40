"""calbridge: the backend between a Retell voice agent and a Cal.com team calendar."""
