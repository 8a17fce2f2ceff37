"""Every file a person reads: templates, feedback, figure tables, author sheets, reports."""
