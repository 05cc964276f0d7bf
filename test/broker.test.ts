import t from 'tap'
import { createInProcessBroker } from '../src/broker'
import { brokerContract } from './broker-contract'

brokerContract(t, 'in-process', async () => createInProcessBroker())
