"""What people read: tables, figures, the HTML/Markdown report, the live progress display. Imports core and results.
Empty on purpose: importing one module (the progress display) must not pull in matplotlib."""
