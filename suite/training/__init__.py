"""Training one round, or k rounds stacked, on a device: the epoch loop, its steppers, devices. Imports core."""
