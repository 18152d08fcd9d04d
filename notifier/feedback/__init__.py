"""Mail that people send to us: who really sent it."""
