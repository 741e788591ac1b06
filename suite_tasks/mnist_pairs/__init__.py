"""MNIST digit-pair comparison (EE-559 project 1): is the digit in channel 0 <= the digit in channel 1?"""
