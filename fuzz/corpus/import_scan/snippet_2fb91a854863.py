for x in __import__('it_for').y:
    import loop_body