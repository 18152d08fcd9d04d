"""What comes back: bounces, complaints, provider events and refusals by email."""
