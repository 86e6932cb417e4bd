try:
    import a
except ImportError:
    from b import c
finally:
    import d