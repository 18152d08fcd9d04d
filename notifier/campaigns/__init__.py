"""Campaigns: templates, audiences, scheduling, planning and reports."""
