s = '''
import no
'''
t = r'\'' ; b = rb'\\'
u = u'x' "y"
import yes
