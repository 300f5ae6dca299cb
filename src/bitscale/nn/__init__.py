"""bitscale.nn"""
