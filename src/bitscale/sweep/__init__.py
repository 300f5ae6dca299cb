"""bitscale.sweep"""
